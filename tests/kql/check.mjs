#!/usr/bin/env node
// Parses and semantically checks KQL files with Microsoft's Kusto.Language
// (@kusto/language-service-next, installed project-locally by tests/tools/setup.sh).
//
// usage: node tests/kql/check.mjs [--table FILE] [--view FILE] FILE.kql...
//
// The database schema is not hand-kept here: the FlowLogs table is read from the
// `.create-merge table` command in --table (default deploy/adx/01-table.kql), and the
// materialized view's columns are whatever Kusto.Language infers for the view query in
// --view (default deploy/adx/03-dedup-view.kql). Every file is split into blocks the way
// Kusto Explorer and the ADX web UI do (blank lines separate blocks); each block is parsed
// and analyzed as a query or a control command (function bodies included). A `.json` file is an ADX dashboard: every query in it is analyzed with the
// dashboard's parameters declared, and its tiles, pages, queries and data sources must refer
// to each other consistently. Errors are printed as
// `file:line:col: error CODE: message` and the exit status is 1 if any were found
// (2 if the checker itself cannot run).
import { readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadKusto } from './kusto.mjs';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

function parseArgs(argv) {
  const opts = {
    table: join(repo, 'deploy/adx/01-table.kql'),
    view: join(repo, 'deploy/adx/03-dedup-view.kql'),
    files: [],
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--table' || a === '--view') {
      if (i + 1 >= argv.length) fatal(`${a} needs a file`);
      opts[a.slice(2)] = resolve(argv[++i]);
    } else if (a.startsWith('--')) {
      fatal(`unknown option ${a}`);
    } else {
      opts.files.push(resolve(a));
    }
  }
  if (opts.files.length === 0) fatal('no .kql files given');
  return opts;
}

function fatal(msg) {
  console.error(`check.mjs: ${msg}`);
  process.exit(2);
}

/** Removes `//` comments (KQL has no block comments); keeps line structure. */
function stripComments(text) {
  return text.replace(/\/\/[^\n]*/g, '');
}

/** `name:type` pairs of the `.create[-merge] table <name> (...)` command in `text`. */
export function tableSchemaFrom(text) {
  const m = /\.create(?:-merge)?\s+table\s+([A-Za-z_][A-Za-z0-9_]*)\s*\(([^)]*)\)/.exec(stripComments(text));
  if (!m) return null;
  const columns = m[2]
    .split(',')
    .map((c) => c.trim())
    .filter((c) => c.length > 0)
    .map((c) => {
      const [name, type] = c.split(':').map((s) => s.trim());
      return { name, type };
    });
  return { name: m[1], columns };
}

/** Name, source table and query of a `.create ... materialized-view` command. */
function viewFrom(text) {
  // The view name is the identifier right before `on table` (the with(...) list may hold
  // strings with parentheses, so it is skipped lazily rather than matched).
  const m = /\.create(?:-or-alter)?\s[\s\S]*?materialized-view\s[\s\S]*?(?<![A-Za-z0-9_])([A-Za-z_][A-Za-z0-9_]*)\s+on\s+table\s+([A-Za-z_][A-Za-z0-9_]*)\s*\{([\s\S]*)\}/.exec(
    stripComments(text),
  );
  return m ? { name: m[1], source: m[2], query: m[3].trim() } : null;
}

function lineCol(text, pos) {
  let line = 1;
  let last = -1;
  for (let i = 0; i < pos && i < text.length; i++) {
    if (text.charCodeAt(i) === 10) {
      line++;
      last = i;
    }
  }
  return `${line}:${pos - last}`;
}

function main() {
  const opts = parseArgs(process.argv.slice(2));
  const K = loadKusto(repo);
  const S = K.Symbols;
  const problems = [];
  const report = (file, text, pos, code, msg) =>
    problems.push(`${relative(process.cwd(), file) || file}:${lineCol(text, pos)}: error ${code}: ${msg}`);

  // 1. The table, from the DDL file (the Rust test adx_mapping.rs ties this file to the row schema).
  const tableText = readFileSync(opts.table, 'utf8');
  const table = tableSchemaFrom(tableText);
  if (!table) fatal(`${opts.table}: no .create-merge table command found`);
  const schema = '(' + table.columns.map((c) => `['${c.name}']:${c.type}`).join(', ') + ')';
  const tableSymbol = new S.TableSymbol.$ctor7(table.name, schema, null);
  let globals = K.GlobalState.Default.WithDatabase(new S.DatabaseSymbol.ctor('flowlog', [tableSymbol]));

  // 2. The view, typed by analyzing its query against the table.
  const view = viewFrom(readFileSync(opts.view, 'utf8'));
  if (!view) fatal(`${opts.view}: no .create materialized-view command found`);
  const viewCode = K.KustoCode.ParseAndAnalyze(view.query, globals);
  const viewType = viewCode.ResultType;
  if (!viewType || !viewType.Columns) fatal(`${opts.view}: the view query does not produce a table`);
  const viewSymbol = new S.MaterializedViewSymbol.$ctor2(view.name, viewType.Columns, view.query, null);
  globals = K.GlobalState.Default.WithDatabase(new S.DatabaseSymbol.ctor('flowlog', [tableSymbol, viewSymbol]));

  const columnTypes = new Map(table.columns.map((c) => [c.name, c.type]));
  for (const file of opts.files) {
    let text;
    try {
      text = readFileSync(file, 'utf8');
    } catch (e) {
      problems.push(`${file}: error IO: ${e.message}`);
      continue;
    }
    if (file.endsWith('.json')) checkDashboard(K, globals, file, text, report);
    else checkFile(K, globals, file, text, columnTypes, table.name, report);
  }

  if (problems.length > 0) {
    for (const p of problems) console.log(p);
    console.log(`${problems.length} KQL error(s) in ${opts.files.length} file(s)`);
    process.exit(1);
  }
  console.log(`ok: ${opts.files.length} KQL file(s) parsed and analyzed against ${table.name} and ${view.name}`);
}

function checkFile(K, globals, file, text, columnTypes, tableName, report) {
  const blocks = K.Editor.CodeScript.From$1(text, globals).Blocks;
  let statements = 0;
  for (let i = 0; i < blocks.Count; i++) {
    const block = blocks.getItem(i);
    if (stripComments(block.Text).trim().length === 0) continue;
    statements++;
    const code = K.KustoCode.ParseAndAnalyze(block.Text, globals);
    const diags = code.GetDiagnostics();
    for (let j = 0; j < diags.Count; j++) {
      const d = diags.getItem(j);
      if (d.Severity !== 'Error') continue;
      report(file, text, block.Start + d.Start, d.Code, d.Message);
    }
    // The parser accepts any `.word ...` as an unknown command without a diagnostic:
    // a misspelled control command would otherwise pass silently.
    code.Syntax.WalkElements((e) => {
      const type = Bridge.getTypeName(e);
      if (type === 'Kusto.Language.Syntax.UnknownCommand' || type === 'Kusto.Language.Syntax.BadCommand') {
        const start = block.Start + e.TextStart;
        const line = text.slice(start).split('\n')[0].trim();
        report(file, text, start, 'UNKNOWN-COMMAND', `not a known control command: ${line}`);
      }
    });
    checkMapping(block, text, file, columnTypes, tableName, report);
  }
  if (statements === 0) report(file, text, 0, 'EMPTY', 'no query or command in file');
}

/** Analyzes `text` and reports its errors at `base` + position (shifted back by `skip`). */
function analyze(K, globals, text, skip, reportAt) {
  const code = K.KustoCode.ParseAndAnalyze(text, globals);
  const diags = code.GetDiagnostics();
  for (let j = 0; j < diags.Count; j++) {
    const d = diags.getItem(j);
    if (d.Severity !== 'Error') continue;
    reportAt(Math.max(0, d.Start - skip), d.Code, d.Message);
  }
}

const PARAM_TYPES = { string: 'string', int: 'int', long: 'long', decimal: 'decimal', real: 'real', bool: 'bool', datetime: 'datetime' };

/** An ADX dashboard: each query analyzed with the parameters declared; references consistent. */
function checkDashboard(K, globals, file, text, report) {
  let d;
  try {
    d = JSON.parse(text);
  } catch (e) {
    report(file, text, 0, 'DASHBOARD-JSON', `not valid JSON: ${e.message}`);
    return;
  }
  const at = (needle) => Math.max(0, text.indexOf(needle));
  const declared = new Map();
  for (const p of d.parameters ?? []) {
    if (p.kind === 'duration') {
      declared.set(p.beginVariableName, 'datetime');
      declared.set(p.endVariableName, 'datetime');
    } else if (PARAM_TYPES[p.kind]) {
      declared.set(p.variableName, p.selectionType === 'array' ? 'dynamic' : PARAM_TYPES[p.kind]);
    } else {
      report(file, text, at(p.id), 'DASHBOARD-PARAM', `parameter ${p.displayName}: unknown kind ${p.kind}`);
    }
  }
  const ids = (list) => new Set((list ?? []).map((x) => x.id));
  const pages = ids(d.pages);
  const sources = ids(d.dataSources);
  const queries = ids(d.queries);
  for (const t of d.tiles ?? []) {
    if (!pages.has(t.pageId)) report(file, text, at(t.id), 'DASHBOARD-REF', `tile "${t.title}" is on unknown page ${t.pageId}`);
    if (t.queryRef && !queries.has(t.queryRef.queryId))
      report(file, text, at(t.id), 'DASHBOARD-REF', `tile "${t.title}" uses unknown query ${t.queryRef.queryId}`);
  }
  if ((d.queries ?? []).length === 0) report(file, text, 0, 'EMPTY', 'dashboard has no queries');
  for (const q of d.queries ?? []) {
    const where = at(q.id);
    if (!sources.has(q.dataSource?.dataSourceId))
      report(file, text, where, 'DASHBOARD-REF', `query ${q.id} uses unknown data source ${q.dataSource?.dataSourceId}`);
    for (const v of q.usedVariables ?? []) {
      if (!declared.has(v)) report(file, text, where, 'DASHBOARD-PARAM', `query ${q.id} uses undeclared variable ${v}`);
    }
    const decl = [...declared].map(([n, t]) => `${n}:${t}`).join(', ');
    const prefix = decl ? `declare query_parameters(${decl});\n` : '';
    analyze(K, globals, prefix + q.text, prefix.length, (pos, code, msg) =>
      report(file, text, where, code, `query ${q.id} at character ${pos}: ${msg}`),
    );
  }
}

/** The mapping JSON is a string literal Kusto.Language cannot see into: check it here. */
function checkMapping(block, text, file, columnTypes, tableName, report) {
  const m = /ingestion\s+json\s+mapping\s+"[^"]+"\s*```([\s\S]*?)```/.exec(block.Text);
  if (!m) return;
  const at = block.Start + m.index;
  let entries;
  try {
    entries = JSON.parse(m[1]);
  } catch (e) {
    report(file, text, at, 'MAPPING-JSON', `mapping is not valid JSON: ${e.message}`);
    return;
  }
  for (const e of entries) {
    const type = columnTypes.get(e.column);
    if (type === undefined) {
      report(file, text, at, 'MAPPING-COLUMN', `mapping names column '${e.column}' which ${tableName} does not have`);
    } else if (e.datatype !== undefined && e.datatype !== type) {
      report(file, text, at, 'MAPPING-TYPE', `mapping types '${e.column}' as ${e.datatype} but the column is ${type}`);
    }
    const path = e.path ?? e.Properties?.Path;
    if (typeof path !== 'string' || !path.startsWith('$')) {
      report(file, text, at, 'MAPPING-PATH', `mapping entry for '${e.column}' has no JSON path`);
    }
  }
}

main();

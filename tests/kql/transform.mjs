#!/usr/bin/env node
// Analyzes a data collection rule transformation (transformKql) with Microsoft's Kusto.Language,
// the way Azure Monitor runs it: against a virtual table named `source` whose columns are the
// rule's stream declaration.
//
// usage: node tests/kql/transform.mjs [--table NAME] --columns name:type,name:type,... FILE.kql...
//
// --table names the table instead (default `source`), to analyze ordinary queries over one table.
// Prints one JSON object per file, one per line, in order:
// {"errors": ["line:col CODE message", ...], "columns": [{"name", "type"}]}
// where columns are the query's output columns with the types Kusto.Language infers.
// Exit status 0 when it ran (errors are data for the caller), 2 when it could not run.
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadKusto } from './kusto.mjs';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

function fatal(msg) {
  console.error(`transform.mjs: ${msg}`);
  process.exit(2);
}

const argv = process.argv.slice(2);
let table = 'source';
if (argv[0] === '--table') {
  table = argv[1] ?? '';
  argv.splice(0, 2);
}
if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(table)) fatal(`bad --table ${table}`);
if (argv.length < 3 || argv[0] !== '--columns') {
  fatal('usage: transform.mjs [--table NAME] --columns name:type,... FILE.kql...');
}
const columns = argv[1].split(',').map((c) => c.trim()).filter((c) => c.length > 0);
if (columns.some((c) => !/^[A-Za-z_][A-Za-z0-9_]*:[a-z]+$/.test(c))) fatal(`bad --columns ${argv[1]}`);

const K = loadKusto(repo);
const S = K.Symbols;
const schema = '(' + columns.map((c) => c.replace(/^([^:]+):/, "['$1']:")).join(', ') + ')';
const symbol = new S.TableSymbol.$ctor7(table, schema, null);
const globals = K.GlobalState.Default.WithDatabase(new S.DatabaseSymbol.ctor('workspace', [symbol]));

for (const file of argv.slice(2)) {
  const text = readFileSync(resolve(file), 'utf8');
  const code = K.KustoCode.ParseAndAnalyze(text, globals);
  const errors = [];
  const diags = code.GetDiagnostics();
  for (let i = 0; i < diags.Count; i++) {
    const d = diags.getItem(i);
    if (d.Severity !== 'Error') continue;
    const before = text.slice(0, d.Start).split('\n');
    errors.push(`${before.length}:${before[before.length - 1].length + 1} ${d.Code} ${d.Message}`);
  }
  const out = [];
  const result = code.ResultType;
  if (result && result.Columns) {
    for (let i = 0; i < result.Columns.Count; i++) {
      const c = result.Columns.getItem(i);
      out.push({ name: c.Name, type: c.Type.Name });
    }
  } else {
    errors.push('1:1 NOT-TABULAR the query does not produce a table');
  }
  console.log(JSON.stringify({ errors, columns: out }));
}

// Loads Microsoft's Kusto.Language (Bridge.NET build) from the project-local .tools/ install.
// The package is not an ES module: bridge.js and Kusto.Language.Bridge.js define the
// globals `Bridge`, `System` and `Kusto` when required in that order.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';

export const PACKAGE = '@kusto/language-service-next';

export function loadKusto(repo) {
  const modules = join(repo, '.tools', 'node_modules');
  const pkg = join(modules, PACKAGE);
  if (!existsSync(join(pkg, 'Kusto.Language.Bridge.js'))) {
    console.error(
      `check.mjs: ${PACKAGE} is not installed in ${modules}; run \`bash tests/tools/setup.sh\` first`,
    );
    process.exit(2);
  }
  const require = createRequire(join(modules, 'index.js'));
  require(`${PACKAGE}/bridge.js`);
  require(`${PACKAGE}/Kusto.Language.Bridge.js`);
  if (!globalThis.Kusto?.Language?.KustoCode?.ParseAndAnalyze) {
    console.error(`check.mjs: ${PACKAGE} loaded but Kusto.Language.KustoCode.ParseAndAnalyze is missing`);
    process.exit(2);
  }
  return globalThis.Kusto.Language;
}

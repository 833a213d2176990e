// Draw a Vega-Lite spec with the real vega runtime (the npm packages the site vendors), once per state.
// stdin: {"spec": <vega-lite spec>, "states": [{"<param>": value, ...}, ...]}
// stdout: a JSON list with the SVG drawn for each state (params not named keep their default value).
const vega = require("vega");
const vegaLite = require("vega-lite");

async function main() {
  const chunks = [];
  for await (const c of process.stdin) chunks.push(c);
  const { spec, states } = JSON.parse(Buffer.concat(chunks).toString("utf8"));
  const runtime = vega.parse(vegaLite.compile(spec).spec);
  const out = [];
  for (const state of states) {
    const view = new vega.View(runtime, { renderer: "none" });
    for (const [name, value] of Object.entries(state)) view.signal(name, value);
    await view.runAsync();
    out.push(await view.toSVG());
    view.finalize();
  }
  process.stdout.write(JSON.stringify(out));
}

main().catch((err) => {
  process.stderr.write(String(err && err.stack ? err.stack : err));
  process.exit(1);
});

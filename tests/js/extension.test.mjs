// The extension (js/paragonsr2.js) loaded as ComfyUI loads it, against stand-in app/api modules and LiteGraph
// nodes. Run by tests/test_js.py: PSR2_EXT is the folder holding the extension copied to
// <root>/extensions/paragonsr2/ beside <root>/scripts/{app,api}.js; PSR2_DESC is a real model description
// (paragonsr2's to_dict JSON) from the bundled model.
import assert from "node:assert/strict";
import { test } from "node:test";
import { CHAR, FakeNode, WIDGET } from "./litegraph_node.mjs";

const ext = process.env.PSR2_EXT;
const { app } = await import(`${ext}/../../scripts/app.js`);
const { api } = await import(`${ext}/../../scripts/api.js`);
await import(`${ext}/paragonsr2.js`);
const core = await import(`${ext}/paragonsr2_core.js`);
const extension = app.extensions.find((e) => e.name === "ParagonSR2.NodePack");

const LOADER_VALUES = { model_name: "2x_a.safetensors", scale: "auto", scale_value: 2.0, upsampler_alpha: "auto",
  alpha_value: 0.5, fusion: "deploy" };
const EXPORT_VALUES = { precision: "fp16", tensorrt: false, filename: "ParagonSR2", destination: "output",
  calibration_folder: "" };
const types = {};
for (const [name, values] of [["ParagonSR2Loader", LOADER_VALUES], ["ParagonSR2Export", EXPORT_VALUES],
  ["ParagonSR2Train", { dataset_folder: "", steps: 200 }], ["ParagonSR2Upscale", { tile: "auto" }]]) {
  types[name] = class extends FakeNode {
    constructor(opts) {
      super(name, values, opts);
    }
  };
  await extension.beforeRegisterNodeDef(types[name], { name });
}
extension.setup();

// LiteGraph.createNode: constructor, then the extensions' nodeCreated.
function create(type, opts = {}) {
  const node = new types[type](opts);
  extension.nodeCreated(node);
  app.graph.nodes.push(node);
  return node;
}

// Opening a saved workflow / a template / an undo step: new node, configure(saved), loadedGraphNode.
function load(saved, opts = {}) {
  const node = new types[saved.type]({ ...opts, id: saved.id });
  extension.nodeCreated(node);
  node.configure(saved);
  extension.loadedGraphNode(node);
  return node;
}

function setCombo(node, name, value) {  // a change made in the UI: value, then the widget's callback
  const w = node.widgets.find((x) => x.name === name);
  w.value = value;
  w.callback?.(value);
}

function send(type, detail) {
  api.dispatchEvent(new CustomEvent(type, { detail }));
}

for (const legacy of [false, true]) {
  const mode = legacy ? "old LiteGraph (computeSize only)" : "frontend 1.27 (widget.hidden)";

  test(`new nodes hide the dependent widgets; UI changes show and hide them (${mode})`, () => {
    const loader = create("ParagonSR2Loader", { legacy });
    const small = loader.size[1];
    assert.equal(loader.visible("scale_value"), false);
    assert.equal(loader.visible("alpha_value"), false);
    setCombo(loader, "scale", "custom");
    assert.equal(loader.visible("scale_value"), true);
    assert.equal(loader.size[1], small + WIDGET + 4);
    setCombo(loader, "scale", "4");
    assert.equal(loader.visible("scale_value"), false);
    assert.equal(loader.size[1], small);
    const exporter = create("ParagonSR2Export", { legacy });
    assert.equal(exporter.visible("calibration_folder"), false);
    setCombo(exporter, "precision", "int8");
    assert.equal(exporter.visible("calibration_folder"), true);
  });

  test(`a saved workflow reopens with the dependent widgets that its values need (${mode})`, () => {
    const loader = create("ParagonSR2Loader", { legacy });
    setCombo(loader, "scale", "custom");
    setCombo(loader, "upsampler_alpha", "custom");
    loader.widgets.find((w) => w.name === "scale_value").value = 3.5;
    const exporter = create("ParagonSR2Export", { legacy });
    setCombo(exporter, "precision", "int8");
    const saved = [loader.serialize(), exporter.serialize()];
    const [loader2, exporter2] = saved.map((s) => load(JSON.parse(JSON.stringify(s)), { legacy }));
    assert.deepEqual(loader2.widgets.map((w) => w.value), loader.widgets.map((w) => w.value));
    assert.equal(loader2.visible("scale_value"), true);
    assert.equal(loader2.visible("alpha_value"), true);
    assert.equal(exporter2.visible("calibration_folder"), true);
    assert.deepEqual(loader2.size, loader.size);
  });
}

test("a node opens as tall as what it shows: no empty block from a saved size or from widgets hidden since", () => {
  for (const legacy of [false, true]) {
    const exporter = create("ParagonSR2Export", { legacy });
    const fitted = exporter.size[1];
    const saved = { ...exporter.serialize(), size: [330, fitted + 120] };  // e.g. saved while int8 showed more
    const reopened = load(JSON.parse(JSON.stringify(saved)), { legacy });
    assert.equal(reopened.visible("calibration_folder"), false);
    assert.deepEqual(reopened.size, [330, fitted]);
  }
  const train = create("ParagonSR2Train", { id: 78 });
  send("paragonsr2.train", { node: "78", step: 1, total: 2, loss: 0.5, psnr: null });
  send("paragonsr2.train", { node: "78", step: 2, total: 2, loss: 0.4, psnr: 30 });
  send("executed", { node: "78", display_node: "78", output: { text: ["saved 2x_a.safetensors"] } });
  const reopened = load({ ...JSON.parse(JSON.stringify(train.serialize())), size: [train.size[0], 999] });
  assert.equal(reopened.size[1], reopened.computeSize()[1] + core.LINE + 8 + core.LOSS_HEIGHT);
});

test("paste (configure without loadedGraphNode) and undo (configure back to older values) follow the values", () => {
  const loader = create("ParagonSR2Loader");
  setCombo(loader, "scale", "custom");
  const before = loader.size[1];
  const pasted = new types.ParagonSR2Loader({ id: 9 });
  extension.nodeCreated(pasted);
  pasted.configure(loader.serialize());
  assert.equal(pasted.visible("scale_value"), true);
  const undo = { ...loader.serialize(), widgets_values: Object.values(LOADER_VALUES) };
  loader.configure(undo);
  assert.equal(loader.visible("scale_value"), false);
  assert.ok(loader.size[1] < before);
});

test("a value set without callback or configure (e.g. by another extension) is caught at the next draw", () => {
  const exporter = create("ParagonSR2Export");
  exporter.widgets.find((w) => w.name === "precision").value = "int8";
  assert.equal(exporter.visible("calibration_folder"), false);
  exporter.draw();
  assert.equal(exporter.visible("calibration_folder"), true);
});

test("a controller driven by a link shows its dependent widget", () => {
  const loader = create("ParagonSR2Loader");
  loader.inputs.find((i) => i.name === "scale").link = 4;
  loader.draw();
  assert.equal(loader.visible("scale_value"), true);
});

test("the loader's model facts survive save and reload, and say when the settings changed since", () => {
  const desc = JSON.parse(process.env.PSR2_DESC);
  const loader = create("ParagonSR2Loader", { id: 41 });
  const small = loader.size[1];
  send("executed", { node: "41", display_node: "41", output: { paragonsr2_info: [JSON.stringify(desc)] } });
  const scale = `${desc.scale[0]}x`;
  const drawn = loader.draw().map((t) => t.text);
  assert.equal(drawn.length, 4 + (desc.warnings || []).length);
  assert.ok(drawn[0].startsWith(`ParagonSR2 gen ${desc.generation} · ${desc.variant}`), drawn[0]);
  assert.equal(drawn[2], `scale ${scale} (${desc.scale_source})`);
  assert.ok(loader.size[1] >= small + drawn.length * 15);
  // a cached re-run sends the node no output (or none at all): the facts stay
  send("executed", { node: "41", display_node: "41", output: null });
  assert.deepEqual(loader.draw().map((t) => t.text), drawn);
  // page reload: the workflow (properties included) is all that is left
  const reloaded = load(JSON.parse(JSON.stringify(loader.serialize())));
  const again = reloaded.draw();
  assert.deepEqual(again.map((t) => t.text), drawn);
  assert.ok(again.every((t) => t.color === "#ccc"));
  assert.deepEqual(reloaded.size, loader.size);
  setCombo(reloaded, "model_name", "4x_other.safetensors");
  const stale = reloaded.draw();
  assert.match(stale.map((t) => t.text).join(" "), /^ParagonSR2 gen .* · \(last run; settings changed since\) /);
  assert.ok(stale.every((t) => t.color === "#777"));
  setCombo(reloaded, "model_name", LOADER_VALUES.model_name);
  assert.ok(reloaded.draw().every((t) => t.color === "#ccc"));
  // a hidden widget's value does not make the facts stale; showing it does
  reloaded.widgets.find((w) => w.name === "scale_value").value = 7;
  assert.ok(reloaded.draw().every((t) => t.color === "#ccc"));
  setCombo(reloaded, "scale", "custom");
  assert.match(reloaded.draw().map((t) => t.text).join(" "), /settings changed since/);
});

test("a run served from the cache shows the loader's facts from /history (no executed message for it)", async () => {
  const desc = JSON.parse(process.env.PSR2_DESC);
  const loader = create("ParagonSR2Loader", { id: 52 });
  const other = create("ParagonSR2Upscale", { id: 53 });
  api.routes["/history/p-1"] = { "p-1": { outputs: { 52: { paragonsr2_info: [JSON.stringify(desc)] },
    53: { images: [] } } } };
  send("execution_success", { prompt_id: "p-1" });
  await new Promise((r) => setTimeout(r, 10));
  assert.equal(loader.draw()[2].text, `scale ${desc.scale[0]}x (${desc.scale_source})`);
  assert.equal(other.__psr2Lines, undefined);
  send("execution_success", { prompt_id: "unknown" });  // no history: nothing changes, nothing thrown
  await new Promise((r) => setTimeout(r, 10));
  assert.equal(loader.draw().length, 4 + (desc.warnings || []).length);
});

test("text wraps at word boundaries to the node's width, never inside a word that fits", () => {
  const measure = (t) => t.length * CHAR;
  const text = "every 10th image (2 of 15) is the validation split; the summary names them";
  const lines = core.wrapText([text], 20 * CHAR, measure);
  assert.deepEqual(lines, ["every 10th image (2", "of 15) is the", "validation split;", "the summary names", "them"]);
  assert.ok(lines.every((l) => measure(l) <= 20 * CHAR));
  assert.equal(lines.join(" "), text);
  // aligned columns keep their spaces; a word longer than a line is cut only where it must be
  assert.deepEqual(core.wrapText(["scale      2x (file)"], 40 * CHAR, measure), ["scale      2x (file)"]);
  assert.deepEqual(core.wrapText([`a ${"x".repeat(25)} b`], 10 * CHAR, measure),
    ["a", "x".repeat(10), "x".repeat(10), "xxxxx b"]);
  assert.deepEqual(core.wrapText(["", "a"], 50, measure), ["", "a"]);
  const many = core.wrapText(Array(30).fill("line"), 100, measure);
  assert.equal(many.length, core.MAX_LINES);
  assert.ok(many.at(-1).endsWith("…"));
  assert.deepEqual(core.infoLines({ text: ["a\nb c"] }), ["a", "b c"]);
  assert.equal(core.infoLines({ images: [] }), null);
});

test("a node's text is drawn wrapped to its width by the canvas's measure, and the node fits it", () => {
  const exporter = create("ParagonSR2Export", { id: 61 });
  const words = "verified: fp16 ONNX Runtime matches PyTorch at 84.1 dB on the bundled photo and 83.0 dB on noise";
  send("executed", { node: "61", display_node: "61", output: { text: [`wrote /out/ParagonSR2_2x_fp16.onnx\n${words}`] } });
  const drawn = exporter.draw();
  const width = exporter.size[0] - 20;
  assert.ok(drawn.length > 2);
  for (const t of drawn) assert.ok(t.text.length * CHAR <= width, t.text);
  assert.equal(drawn.slice(1).map((t) => t.text).join(" "), words);  // every word whole, in order
  const bottom = Math.max(...drawn.map((t) => t.y));
  assert.ok(bottom <= exporter.size[1] && bottom > exporter.size[1] - 15, `${bottom} vs ${exporter.size[1]}`);
  const tall = exporter.size[1];
  exporter.setSize([exporter.size[0] * 2, tall]);  // wider: fewer lines, and the node shrinks to fit them
  const wide = exporter.draw();
  assert.ok(wide.length < drawn.length && exporter.size[1] < tall);
});

test("the training loss curve is drawn live and kept (thinned) with the workflow after the last step", () => {
  const train = create("ParagonSR2Train", { id: 77 });
  for (let step = 5; step <= 1000; step += 5) {
    send("paragonsr2.train", { node: "77", step, total: 1000, loss: 1 / step, psnr: step === 1000 ? 31.5 : null });
  }
  send("executed", { node: "77", display_node: "77", output: { text: ["saved 2x_mine.safetensors"] } });
  const texts = train.draw();
  const drawn = texts.map((t) => t.text);
  assert.deepEqual(drawn, ["saved 2x_mine.safetensors", "loss 0.0010 · step 1000/1000 · val 31.50 dB"]);
  // the label sits on its own line above the plot, not over the curve; the plot stays inside the node
  const [box] = texts.rects;
  assert.ok(texts[1].y <= box.y - 2 && texts[1].y > texts[0].y, `label ${texts[1].y}, plot top ${box.y}`);
  assert.ok(texts.points.every((pt) => pt.y >= box.y && pt.y <= box.y + box.h));
  assert.ok(box.y + box.h <= train.size[1]);
  const saved = JSON.parse(train.properties[core.LAST_RUN]);
  assert.ok(saved.loss.length <= 201 && saved.loss.at(-1).step === 1000);
  const reloaded = load(JSON.parse(JSON.stringify(train.serialize())));
  assert.deepEqual(reloaded.draw().map((t) => t.text), drawn);
  // a new run starts a new curve
  send("paragonsr2.train", { node: "77", step: 5, total: 10, loss: 0.5, psnr: null });
  assert.equal(train.__psr2Loss.length, 1);
});

test("a damaged saved property is ignored, not thrown", () => {
  const loader = create("ParagonSR2Loader");
  const saved = loader.serialize();
  saved.properties[core.LAST_RUN] = "{not json";
  const reloaded = load(saved);
  assert.deepEqual([...reloaded.draw()], []);
});

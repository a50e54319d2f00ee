// ParagonSR2 frontend logic without ComfyUI imports (so that it runs under `node --test` with a stand-in node):
// widgets that follow other widgets, the last run's text (and loss curve) kept in the node's properties.
// A LiteGraph node is used through: widgets[{name, value, callback, computeSize, options, hidden}], inputs,
// properties, size, computeSize(), setSize(), setDirtyCanvas(), flags.

export const LOADER = "ParagonSR2Loader";
export const TRAIN = "ParagonSR2Train";
export const EXPORT = "ParagonSR2Export";
export const TEXT_NODES = new Set([LOADER, "ParagonSR2ModelInfo", EXPORT, TRAIN]);
// node type -> [controller widget, dependent widget, controller values that show the dependent]; the values are
// checked against the node specs' combo options by tests/test_js.py
export const DEPENDENT_WIDGETS = {
  [LOADER]: [["scale", "scale_value", ["custom"]], ["upsampler_alpha", "alpha_value", ["custom"]]],
  [EXPORT]: [["precision", "calibration_folder", ["int8"]]],
  [TRAIN]: [["stage", "perceptual_weights", ["2: perceptual finetune"]],
    ["stage", "perceptual_arch", ["2: perceptual finetune"]]],
};
export const LAST_RUN = "paragonsr2_last_run"; // node property (a JSON string), saved with the workflow
// Height a node grows by to show a run's text and loss curve (tests/test_workflows.py lays examples out by these).
export const LINE = 15;
export const MAX_LINES = 18;
export const LOSS_HEIGHT = 90;
const KEPT_LOSS_POINTS = 200;

export function widget(node, name) {
  return node.widgets?.find((w) => w.name === name);
}

function controllerLinked(node, name) {
  return (node.inputs || []).some((i) => (i.widget?.name ?? i.name) === name && i.link != null);
}

// Fits the node's height to its widgets plus the drawn extras (grow: never shrink, e.g. a user-sized node).
function resize(node, grow = false) {
  const size = node.computeSize();
  const height = size[1] + extraHeight(node);
  node.setSize([Math.max(node.size[0], size[0], node.__psr2Lines?.length ? 280 : 0),
    grow ? Math.max(node.size[1], height) : height]);
  node.setDirtyCanvas?.(true, true);
}

function setShown(w, show) {
  if (!("__psr2OwnSize" in w)) w.__psr2OwnSize = Object.hasOwn(w, "computeSize") ? w.computeSize : null;
  w.hidden = !show;
  if (w.options) w.options.hidden = !show;
  // Older LiteGraph layouts ignore `hidden`; a zero-height size removes the gap there.
  if (!show) w.computeSize = () => [0, -4];
  else if (w.__psr2OwnSize) w.computeSize = w.__psr2OwnSize;
  else delete w.computeSize;
}

// Shows each dependent widget exactly while its controller has a showing value (or is driven by a link).
// Idempotent and cheap: resizes the node only when a visibility changed. Returns whether one did.
export function syncWidgets(node) {
  let changed = false;
  for (const [controllerName, dependentName, values] of DEPENDENT_WIDGETS[node.comfyClass] || []) {
    const controller = widget(node, controllerName);
    const dependent = widget(node, dependentName);
    if (!controller || !dependent) continue;
    const show = values.includes(controller.value) || controllerLinked(node, controllerName);
    if (dependent.__psr2Shown === show) continue;
    dependent.__psr2Shown = show;
    setShown(dependent, show);
    changed = true;
  }
  if (changed) resize(node);
  return changed;
}

// Called once per new node: controllers re-sync on every change made through the UI.
export function watchWidgets(node) {
  for (const [controllerName] of DEPENDENT_WIDGETS[node.comfyClass] || []) {
    const controller = widget(node, controllerName);
    if (!controller || controller.__psr2Watched) continue;
    controller.__psr2Watched = true;
    const previous = controller.callback;
    controller.callback = function (...args) {
      const result = previous?.apply(this, args);
      syncWidgets(node);
      return result;
    };
  }
  syncWidgets(node);
}

// The inputs that decide a node's output: visible widgets' values.
export function activeInputs(node) {
  const inputs = {};
  for (const w of node.widgets || []) {
    if (w.name && !w.hidden && typeof w.value !== "function") inputs[w.name] = w.value;
  }
  return inputs;
}

export function infoLines(output) {
  if (output?.paragonsr2_info?.length) {
    const d = JSON.parse(output.paragonsr2_info[0]);
    const scale = d.scale[0] === d.scale[1] ? `${d.scale[0]}x` : `${d.scale[0]}x${d.scale[1]}`;
    const lines = [
      `ParagonSR2 gen ${d.generation} · ${d.variant}`,
      `${d.params.toLocaleString("en-US")} parameters · fused: ${d.fused}`,
      `scale ${scale} (${d.scale_source})`,
      `alpha ${d.upsampler_alpha} (${d.alpha_source})`,
    ];
    for (const w of d.warnings || []) lines.push(`⚠ ${w.length > 60 ? `${w.slice(0, 60)}…` : w}`);
    return lines.slice(0, MAX_LINES);
  }
  if (output?.text?.length) {
    const wrapped = [];
    for (const line of String(output.text[0]).split("\n")) {
      for (let i = 0; i < Math.max(line.length, 1); i += 64) wrapped.push(line.slice(i, i + 64));
    }
    return wrapped.slice(0, MAX_LINES);
  }
  return null;
}

function extraHeight(node) {
  const lines = node.__psr2Lines?.length || 0;
  return (lines ? lines * LINE + 8 : 0) + (node.__psr2Loss?.length > 1 ? LOSS_HEIGHT : 0);
}

function save(node) {
  const loss = node.__psr2Loss || [];
  const stride = Math.ceil(loss.length / KEPT_LOSS_POINTS) || 1;
  const kept = loss.filter((_, i) => i % stride === 0 || i === loss.length - 1);
  node.properties = node.properties || {};
  node.properties[LAST_RUN] = JSON.stringify({ lines: node.__psr2Lines || [], inputs: node.__psr2Inputs || {},
    loss: kept });
}

// A run's text on the node, remembered with the inputs it was made from (saved with the workflow).
export function showOutput(node, output) {
  const lines = infoLines(output);
  if (!lines) return false;
  node.__psr2Lines = lines;
  node.__psr2Inputs = activeInputs(node);
  save(node);
  resize(node);
  return true;
}

// A prompt's outputs from /history/<id>: they include nodes served from ComfyUI's cache, which get no "executed"
// message (a cached loader would otherwise show nothing in a fresh page). Returns the nodes updated.
export function showHistory(history, promptId, nodeById) {
  const updated = [];
  for (const [id, output] of Object.entries(history?.[promptId]?.outputs || {})) {
    const node = nodeById(id);
    if (node && TEXT_NODES.has(node.comfyClass) && showOutput(node, output)) updated.push(node);
  }
  return updated;
}

export function addLoss(node, point) {
  if (!node.__psr2Loss || point.step < (node.__psr2Loss.at(-1)?.step ?? 0)) node.__psr2Loss = [];
  node.__psr2Loss.push(point);
  if (node.__psr2Loss.length > 2000) node.__psr2Loss.splice(0, node.__psr2Loss.length - 2000);
  if (node.__psr2Loss.length === 2) resize(node);
  if (point.step === point.total) save(node);
  node.setDirtyCanvas?.(true, false);
}

// After a workflow is loaded, pasted or undone: the remembered run, if any, is shown again.
export function restoreOutput(node) {
  let saved = null;
  try {
    saved = JSON.parse(node.properties?.[LAST_RUN] || "null");
  } catch {
    saved = null;
  }
  node.__psr2Lines = saved?.lines || null;
  node.__psr2Inputs = saved?.inputs || null;
  node.__psr2Loss = saved?.loss?.length ? saved.loss : null;
  if (saved) resize(node, true);
}

// True when a visible widget differs from the remembered run's inputs (its text then describes an older run).
export function isStale(node) {
  const then = node.__psr2Inputs;
  if (!then) return false;
  const now = activeInputs(node);
  const names = new Set([...Object.keys(then), ...Object.keys(now)]);
  return [...names].some((n) => then[n] !== now[n]);
}

export function drawExtras(node, ctx) {
  if (node.flags?.collapsed) return;
  const lines = node.__psr2Lines || [];
  let y = node.size[1] - extraHeight(node) + 4;
  const stale = isStale(node);
  ctx.save();
  ctx.font = "12px sans-serif";
  ctx.fillStyle = stale ? "#777" : "#ccc";
  lines.forEach((line, i) => {
    y += LINE;
    const text = stale && i === 0 ? `${line} · (last run; settings changed since)` : line;
    ctx.fillText(text, 10, y - 3, node.size[0] - 20);
  });
  if (lines.length) y += 8;
  const losses = node.__psr2Loss;
  if (losses?.length > 1) {
    const x0 = 10, w = node.size[0] - 20, h = 80, top = y - 4;
    ctx.strokeStyle = "#555";
    ctx.strokeRect(x0, top, w, h);
    const max = Math.max(...losses.map((p) => p.loss));
    const min = Math.min(...losses.map((p) => p.loss));
    const last = losses[losses.length - 1];
    ctx.strokeStyle = "#4fc3f7";
    ctx.beginPath();
    losses.forEach((p, i) => {
      const px = x0 + (p.step / last.total) * w;
      const py = top + h - ((p.loss - min) / (max - min || 1)) * (h - 4) - 2;
      i ? ctx.lineTo(px, py) : ctx.moveTo(px, py);
    });
    ctx.stroke();
    ctx.fillText(`loss ${last.loss.toFixed(4)} · step ${last.step}/${last.total}` +
      (last.psnr ? ` · val ${last.psnr.toFixed(2)} dB` : ""), x0 + 4, top + 14);
  }
  ctx.restore();
}

// Prototype hooks for one node type: every path that sets widget values without their callback (workflow load,
// paste, undo, template browser: all go through configure) ends in syncWidgets; drawing re-checks as a safety net.
export function hookNodeType(nodeType, nodeName) {
  const proto = nodeType.prototype;
  const onConfigure = proto.onConfigure;
  proto.onConfigure = function (...args) {
    const r = onConfigure?.apply(this, args);
    syncWidgets(this);
    if (TEXT_NODES.has(nodeName)) restoreOutput(this);
    return r;
  };
  const onDraw = proto.onDrawForeground;
  proto.onDrawForeground = function (ctx, ...rest) {
    const r = onDraw?.apply(this, [ctx, ...rest]);
    syncWidgets(this);
    if (TEXT_NODES.has(nodeName)) drawExtras(this, ctx);
    return r;
  };
}

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
export const LOSS_HEIGHT = 90; // the curve's label line, then its plot (the label never sits on the curve)
export const FONT = "12px sans-serif";
// Width of one character of FONT, an upper estimate for laying text out before a canvas measures it.
export const CHAR_WIDTH = 7;
const MARGIN = 10; // text and curve keep this far from the node's left and right edges
const KEPT_LOSS_POINTS = 200;

export function widget(node, name) {
  return node.widgets?.find((w) => w.name === name);
}

function controllerLinked(node, name) {
  return (node.inputs || []).some((i) => (i.widget?.name ?? i.name) === name && i.link != null);
}

// Fits the node's height to its visible widgets plus the drawn extras (no empty block below them); the width
// only grows.
function resize(node) {
  const size = node.computeSize();
  node.setSize([Math.max(node.size[0], size[0], node.__psr2Lines?.length ? 280 : 0), size[1] + extraHeight(node)]);
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

// The lines a run's output shows (before wrapping to the node's width; see wrapText).
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
    for (const w of d.warnings || []) lines.push(`⚠ ${w}`);
    return lines;
  }
  if (output?.text?.length) return String(output.text[0]).split("\n");
  return null;
}

// Lines no wider than `width` px (by `measure`), broken at spaces; runs of spaces inside a line are kept (aligned
// columns), and a word wider than a whole line is cut where it must be. At most MAX_LINES (the last then ends in …).
export function wrapText(lines, width, measure = (t) => t.length * CHAR_WIDTH) {
  const out = [];
  for (const text of lines) {
    let line = "";
    for (const token of String(text).match(/\s+|\S+/g) || [""]) {
      const blank = /^\s/.test(token);
      if (measure(line + token) <= width) {
        line += token;
      } else if (blank) {
        out.push(line);
        line = "";
      } else {
        if (line.trim()) out.push(line.trimEnd());
        line = "";
        let rest = token;
        while (measure(rest) > width && rest.length > 1) {
          let n = rest.length - 1;
          while (n > 1 && measure(rest.slice(0, n)) > width) n -= 1;
          out.push(rest.slice(0, n));
          rest = rest.slice(n);
        }
        line = rest;
      }
    }
    out.push(line.replace(/\s+$/, ""));
  }
  if (out.length <= MAX_LINES) return out;
  const kept = out.slice(0, MAX_LINES);
  kept[MAX_LINES - 1] = `${kept[MAX_LINES - 1].replace(/.$/, "")}…`;
  return kept;
}

// The node's text as drawn: its lines (the first marked when the settings changed since the run) wrapped to the
// node's width, by the canvas's own measure once one drew.
function shownLines(node, measure) {
  const lines = node.__psr2Lines || [];
  const stale = isStale(node);
  const width = node.size[0] - 2 * MARGIN;
  const cached = node.__psr2Wrapped;
  if (cached && cached.source === lines && cached.stale === stale && cached.width === width &&
    (cached.measured || !measure)) return cached.lines;
  const source = stale && lines.length ? [`${lines[0]} · (last run; settings changed since)`, ...lines.slice(1)]
    : lines;
  const wrapped = wrapText(source, width, measure);
  node.__psr2Wrapped = { source: lines, stale, width, measured: Boolean(measure), lines: wrapped };
  return wrapped;
}

function extraHeight(node) {
  const lines = node.__psr2Lines?.length ? shownLines(node).length : 0;
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
  ctx.save();
  ctx.font = FONT;
  const before = node.__psr2Wrapped?.lines.length;
  const lines = shownLines(node, ctx.measureText ? (t) => ctx.measureText(t).width : null);
  if (before !== undefined && lines.length !== before) resize(node); // the canvas measured other widths
  let y = node.size[1] - extraHeight(node) + 4;
  const width = node.size[0] - 2 * MARGIN;
  ctx.fillStyle = node.__psr2Wrapped.stale ? "#777" : "#ccc";
  lines.forEach((line) => {
    y += LINE;
    ctx.fillText(line, MARGIN, y - 3, width);
  });
  if (lines.length) y += 8;
  const losses = node.__psr2Loss;
  if (losses?.length > 1) {
    const last = losses[losses.length - 1];
    ctx.fillText(`loss ${last.loss.toFixed(4)} · step ${last.step}/${last.total}` +
      (last.psnr ? ` · val ${last.psnr.toFixed(2)} dB` : ""), MARGIN, y + LINE - 7, width);
    const top = y + LINE - 2, h = LOSS_HEIGHT - LINE - 8;
    ctx.strokeStyle = "#555";
    ctx.strokeRect(MARGIN, top, width, h);
    const max = Math.max(...losses.map((p) => p.loss));
    const min = Math.min(...losses.map((p) => p.loss));
    ctx.strokeStyle = "#4fc3f7";
    ctx.beginPath();
    losses.forEach((p, i) => {
      const px = MARGIN + (p.step / last.total) * width;
      const py = top + h - ((p.loss - min) / (max - min || 1)) * (h - 4) - 2;
      i ? ctx.lineTo(px, py) : ctx.moveTo(px, py);
    });
    ctx.stroke();
  }
  ctx.restore();
}

// Prototype hooks for one node type: every path that sets widget values without their callback (workflow load,
// paste, undo, template browser: all go through configure) ends in syncWidgets and a height that fits what the
// node shows (a saved size may hold room for widgets hidden since); drawing re-checks as a safety net.
export function hookNodeType(nodeType, nodeName) {
  const proto = nodeType.prototype;
  const onConfigure = proto.onConfigure;
  proto.onConfigure = function (...args) {
    const r = onConfigure?.apply(this, args);
    syncWidgets(this);
    if (TEXT_NODES.has(nodeName)) restoreOutput(this);
    resize(this);
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

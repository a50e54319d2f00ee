// ParagonSR2 node pack frontend: model facts on the loader, context-dependent widgets,
// and the live training-loss curve. Plain ES module, no build step.
import { app } from "../../scripts/app.js";
import { api } from "../../scripts/api.js";

const LOADER = "ParagonSR2Loader";
const TRAIN = "ParagonSR2Train";
const EXPORT = "ParagonSR2Export";
const TEXT_NODES = new Set([LOADER, "ParagonSR2ModelInfo", EXPORT, TRAIN]);
const LINE = 15;

function widget(node, name) {
  return node.widgets?.find((w) => w.name === name);
}

// Show `dependent` only while `controller` has one of `values`.
function toggleWith(node, controllerName, dependentName, values) {
  const controller = widget(node, controllerName);
  const dependent = widget(node, dependentName);
  if (!controller || !dependent) return;
  const computeSize = dependent.computeSize;
  const update = () => {
    const show = values.includes(controller.value);
    dependent.hidden = !show;
    if (dependent.options) dependent.options.hidden = !show;
    // Older LiteGraph layouts ignore `hidden`; a zero-height size removes the gap there.
    dependent.computeSize = show ? computeSize : () => [0, -4];
    const size = node.computeSize();
    node.setSize([Math.max(node.size[0], size[0]), size[1] + (node.__psr2Extra || 0)]);
    node.setDirtyCanvas(true, true);
  };
  const previous = controller.callback;
  controller.callback = function (...args) {
    const result = previous?.apply(this, args);
    update();
    return result;
  };
  update();
}

function infoLines(output) {
  if (output?.paragonsr2_info?.length) {
    const d = JSON.parse(output.paragonsr2_info[0]);
    const scale = d.scale[0] === d.scale[1] ? `${d.scale[0]}x` : `${d.scale[0]}x${d.scale[1]}`;
    const lines = [
      `ParagonSR2 gen ${d.generation} · ${d.variant}`,
      `${d.params.toLocaleString()} parameters · fused: ${d.fused}`,
      `scale ${scale} (${d.scale_source})`,
      `alpha ${d.upsampler_alpha} (${d.alpha_source})`,
    ];
    for (const w of d.warnings || []) lines.push(`⚠ ${w.slice(0, 60)}…`);
    return lines;
  }
  if (output?.text?.length) {
    const wrapped = [];
    for (const line of String(output.text[0]).split("\n")) {
      for (let i = 0; i < Math.max(line.length, 1); i += 64) wrapped.push(line.slice(i, i + 64));
    }
    return wrapped.slice(0, 18);
  }
  return null;
}

function setLines(node, lines) {
  node.__psr2Lines = lines;
  node.__psr2Extra = (lines?.length || 0) * LINE + 8 + (node.__psr2Loss ? 90 : 0);
  const size = node.computeSize();
  node.setSize([Math.max(node.size[0], 280), size[1] + node.__psr2Extra]);
  node.setDirtyCanvas(true, true);
}

function drawExtras(node, ctx) {
  if (node.flags?.collapsed) return;
  let y = node.size[1] - (node.__psr2Extra || 0) + 4;
  ctx.save();
  ctx.font = "12px sans-serif";
  ctx.fillStyle = "#ccc";
  for (const line of node.__psr2Lines || []) {
    y += LINE;
    ctx.fillText(line, 10, y - 3, node.size[0] - 20);
  }
  const losses = node.__psr2Loss;
  if (losses?.length > 1) {
    const x0 = 10, w = node.size[0] - 20, h = 80, top = y + 4;
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

app.registerExtension({
  name: "ParagonSR2.NodePack",

  async beforeRegisterNodeDef(nodeType, nodeData) {
    if (!TEXT_NODES.has(nodeData.name)) return;
    const onDraw = nodeType.prototype.onDrawForeground;
    nodeType.prototype.onDrawForeground = function (ctx) {
      const r = onDraw?.apply(this, arguments);
      drawExtras(this, ctx);
      return r;
    };
  },

  nodeCreated(node) {
    if (node.comfyClass === LOADER) {
      toggleWith(node, "scale", "scale_value", ["custom"]);
      toggleWith(node, "upsampler_alpha", "alpha_value", ["custom"]);
    } else if (node.comfyClass === EXPORT) {
      toggleWith(node, "precision", "calibration_folder", ["int8"]);
    }
  },

  setup() {
    api.addEventListener("executed", ({ detail }) => {
      const node = app.graph?.getNodeById(Number(detail?.node) || detail?.node);
      if (!node || !TEXT_NODES.has(node.comfyClass)) return;
      const lines = infoLines(detail.output);
      if (lines) setLines(node, lines);
    });
    api.addEventListener("paragonsr2.train", ({ detail }) => {
      const node = app.graph?.getNodeById(Number(detail?.node) || detail?.node);
      if (!node) return;
      if (!node.__psr2Loss || detail.step < (node.__psr2Loss.at(-1)?.step ?? 0)) node.__psr2Loss = [];
      node.__psr2Loss.push(detail);
      if (node.__psr2Loss.length > 2000) node.__psr2Loss.splice(0, node.__psr2Loss.length - 2000);
      if (node.__psr2Loss.length === 2) setLines(node, node.__psr2Lines || []);
      node.setDirtyCanvas(true, false);
    });
  },
});

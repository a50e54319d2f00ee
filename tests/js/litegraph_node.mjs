// A stand-in LiteGraph node with the parts of ComfyUI frontend 1.27's LGraphNode that the extension touches:
// configure() copies fields, merges properties, assigns widgets_values to serializable widgets, then calls
// onConfigure (the order LGraphNode.configure uses); computeSize() skips hidden widgets unless `legacy`
// (old LiteGraph, which only honoured widget.computeSize).
export const SLOT = 20;
export const WIDGET = 20;
export const CHAR = 6;

export class FakeNode {
  constructor(type, widgetValues, { legacy = false, id = 1 } = {}) {
    this.id = id;
    this.type = this.comfyClass = type;
    this.legacy = legacy;
    this.flags = {};
    this.properties = { "Node name for S&R": type };
    this.widgets = Object.entries(widgetValues).map(([name, value]) => ({ name, value, options: {}, type: "combo" }));
    this.inputs = this.widgets.map((w) => ({ name: w.name, widget: { name: w.name }, link: null }));
    this.dirty = 0;
    this.size = [0, 0];
    this.size = this.computeSize();
  }

  computeSize() {
    let height = SLOT;
    for (const w of this.widgets) {
      if (w.hidden && !this.legacy) continue;
      height += (w.computeSize ? w.computeSize(this.size[0])[1] : WIDGET) + 4;
    }
    return [240, height];
  }

  setSize(size) {
    this.size = [size[0], size[1]];
  }

  setDirtyCanvas() {
    this.dirty += 1;
  }

  visible(name) {
    const w = this.widgets.find((x) => x.name === name);
    return this.legacy ? w.computeSize?.()[1] !== -4 : !w.hidden;
  }

  serialize() {
    return JSON.parse(JSON.stringify({ id: this.id, type: this.type, size: this.size, flags: this.flags,
      properties: this.properties, widgets_values: this.widgets.map((w) => w.value) }));
  }

  configure(info) {
    for (const [key, value] of Object.entries(info)) {
      if (key === "properties") Object.assign(this.properties, JSON.parse(JSON.stringify(value)));
      else if (key !== "widgets_values") this[key] = JSON.parse(JSON.stringify(value));
    }
    (info.widgets_values || []).forEach((value, i) => {
      if (this.widgets[i]) this.widgets[i].value = value;
    });
    this.onConfigure?.(info);
  }

  // Draws with a recording context (text measured at CHAR px per character); returns the text drawn, with
  // `texts.rects` (strokeRect boxes) and `texts.points` (the path's points) beside it.
  draw() {
    const texts = [];
    texts.rects = [];
    texts.points = [];
    const ctx = {
      save() {}, restore() {}, beginPath() {}, stroke() {},
      strokeRect(x, y, w, h) { texts.rects.push({ x, y, w, h }); },
      moveTo(x, y) { texts.points.push({ x, y }); },
      lineTo(x, y) { texts.points.push({ x, y }); },
      measureText(text) { return { width: text.length * CHAR }; },
      fillText(text, x, y, maxWidth) { texts.push({ text, color: this.fillStyle, x, y, maxWidth }); },
    };
    this.onDrawForeground?.(ctx);
    return texts;
  }
}

// Stand-in for ComfyUI's scripts/app.js: records registered extensions; a graph of stand-in nodes.
export const app = {
  extensions: [],
  graph: { nodes: [], getNodeById(id) { return this.nodes.find((n) => n.id === id) ?? null; } },
  registerExtension(extension) { this.extensions.push(extension); },
};

/* seqcourse: a figure that the column would shrink below 60 % of its natural width (three-panel heatmaps,
   a phone screen) is shown at that scale in a horizontally scrolling box instead of becoming illegible. */
(() => {
  const LEGIBLE = 0.6;
  const fit = (img) => {
    const box = img.parentElement;
    if (!img.naturalWidth || !box) return;
    box.classList.remove("seqcourse-wide-figure");
    img.style.width = "";
    const column = box.clientWidth;
    if (img.naturalWidth * LEGIBLE > column) {
      box.classList.add("seqcourse-wide-figure");
      img.style.width = `${Math.round(img.naturalWidth * LEGIBLE)}px`;
    }
  };
  const fitAll = () => document.querySelectorAll(".bd-article .cell_output img").forEach((img) => {
    if (img.complete) fit(img);
    else img.addEventListener("load", () => fit(img), { once: true });
  });
  document.addEventListener("DOMContentLoaded", fitAll);
  window.addEventListener("resize", fitAll);
})();

/*
 * seqcourse: the query side of the Chinese search (inserted into language_data.js by Sphinx).
 * The index side segments pages with jieba; here a query is cut into the fewest words of the index's own
 * vocabulary, so every piece is a key the index has. Spaces between Han characters are ignored.
 * Formulas in result snippets are shown as plain text, not as raw TeX.
 */
var SeqcourseSearch = (() => {
  const spacesBetweenHan = /(\p{Script=Han})\s+(?=\p{Script=Han})/gu;
  const hanRun = /(\p{Script=Han}+)/u;
  const nonWord = /[^\p{Letter}\p{Number}_\p{Emoji_Presentation}]+/gu;
  let cached = { index: null, words: null, longest: 1 };

  const vocabulary = () => {
    const index = typeof Search === "undefined" ? null : Search._index;
    if (!index) return null;
    if (cached.index !== index) {
      const words = new Set([...Object.keys(index.terms), ...Object.keys(index.titleterms)]);
      let longest = 1;
      words.forEach((w) => { longest = Math.max(longest, [...w].length); });
      cached = { index, words, longest };
    }
    return cached;
  };

  /** The fewest index words that spell `run`; among those, the one whose first words are longest. */
  const segment = (run, { words, longest }) => {
    const chars = [...run];
    const n = chars.length;
    const cost = new Array(n + 1).fill(Infinity); // cost[i]: fewest words spelling chars[i:]
    const end = new Array(n + 1).fill(n);
    cost[n] = 0;
    for (let i = n - 1; i >= 0; i--) {
      for (let j = Math.min(n, i + longest); j > i; j--) { // longest first word wins ties
        if (j > i + 1 && !words.has(chars.slice(i, j).join(""))) continue;
        if (1 + cost[j] < cost[i]) {
          cost[i] = 1 + cost[j];
          end[i] = j;
        }
      }
    }
    const pieces = [];
    for (let i = 0; i < n; i = end[i]) pieces.push(chars.slice(i, end[i]).join(""));
    return pieces;
  };

  const normalise = (query) => query.replace(spacesBetweenHan, "$1");

  const split = (query) => {
    const parts = normalise(query).split(nonWord).filter((t) => t);
    const vocab = vocabulary();
    if (!vocab) return parts;
    return parts.flatMap((part) =>
      part.split(hanRun).flatMap((t) => (hanRun.test(t) ? segment(t, vocab) : [t]))
    ).filter((t) => t.length > 1 || hanRun.test(t)); // the index keeps no one-letter Latin word either
  };

  const SYMBOLS = {
    alpha: "α", beta: "β", gamma: "γ", delta: "δ", epsilon: "ε", varepsilon: "ε", zeta: "ζ", eta: "η",
    theta: "θ", kappa: "κ", lambda: "λ", mu: "μ", nu: "ν", xi: "ξ", pi: "π", rho: "ρ", sigma: "σ", tau: "τ",
    phi: "φ", varphi: "φ", chi: "χ", psi: "ψ", omega: "ω", Gamma: "Γ", Delta: "Δ", Theta: "Θ", Lambda: "Λ",
    Xi: "Ξ", Pi: "Π", Sigma: "Σ", Phi: "Φ", Psi: "Ψ", Omega: "Ω", cdot: "·", times: "×", odot: "⊙",
    otimes: "⊗", oplus: "⊕", le: "≤", leq: "≤", ge: "≥", geq: "≥", ne: "≠", neq: "≠", approx: "≈", sim: "∼",
    propto: "∝", in: "∈", to: "→", rightarrow: "→", leftarrow: "←", mapsto: "↦", infty: "∞", partial: "∂",
    nabla: "∇", sum: "∑", prod: "∏", int: "∫", top: "ᵀ", ldots: "…", cdots: "⋯", dots: "…", mid: "|",
    lVert: "‖", rVert: "‖", Vert: "‖", quad: " ", qquad: " ",
  };
  // commands whose argument is shown as is (fonts, accents, text) or that only size delimiters
  const DROPPED = /\\(?:mathbf|boldsymbol|bm|mathrm|mathit|mathcal|mathbb|mathsf|text|textrm|textbf|operatorname|hat|tilde|bar|vec|overline|underline|left|right|bigl|bigr|Bigl|Bigr|big|Big|bigg|Bigg|displaystyle|limits|nolimits)\b\s*/g;

  /** TeX source of one formula as readable plain text: \frac{a}{b} -> (a)/(b), \alpha -> α, no braces. */
  const texToText = (tex) => {
    let text = tex.trim()
      .replace(/^(\\\(|\\\[|\$\$?)/, "").replace(/(\\\)|\\\]|\$\$?)$/, "")
      .replace(/\\(?:begin|end)\{[^}]*\}/g, " ")
      .replace(DROPPED, "");
    for (let k = 0; k < 3; k++) text = text.replace(/\\[dt]?frac\s*\{([^{}]*)\}\s*\{([^{}]*)\}/g, "($1)/($2)");
    return text
      .replace(/\\([A-Za-z]+)/g, (_m, name) => SYMBOLS[name] ?? name)
      .replace(/\\\\/g, " ").replace(/\\[,;:! ]/g, " ").replace(/\\([{}_%&#$|])/g, "$1")
      .replace(/[{}&]/g, "").replace(/\s+/g, " ").trim();
  };

  const mathAsText = (htmlString) => {
    const doc = new DOMParser().parseFromString(htmlString, "text/html");
    doc.querySelectorAll(".math").forEach((el) => { el.textContent = " " + texToText(el.textContent) + " "; });
    return doc.documentElement.outerHTML;
  };

  // Search is defined by searchtools.js, which some themes load after this file.
  const patch = () => {
    if (typeof Search === "undefined") return false;
    if (Search.seqcoursePatched) return true;
    const parse = Search._parseQuery;
    Search._parseQuery = (query) => parse(normalise(query));
    const htmlToText = Search.htmlToText;
    Search.htmlToText = (htmlString, anchor) => htmlToText(mathAsText(htmlString), anchor);
    Search.seqcoursePatched = true;
    return true;
  };
  if (!patch()) document.addEventListener("DOMContentLoaded", patch, { once: true });

  return { split, segment, normalise, texToText };
})();

var splitQuery = SeqcourseSearch.split;

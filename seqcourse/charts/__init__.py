"""Interactive Altair (Vega-Lite) figures for the book: every state precomputed, chosen by bound params."""

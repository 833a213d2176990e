"""Interactive Altair (Vega-Lite) charts for the book: every state is precomputed, controls are params."""

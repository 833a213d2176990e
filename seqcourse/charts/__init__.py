"""Interactive figures as Altair (Vega-Lite) charts that respond in the browser, with no kernel."""

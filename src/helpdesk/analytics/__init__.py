"""Analytics (issue 7): conversation outcomes, satisfaction, metrics, export and privacy.

`metrics.compute_summary` is the entry point for reports: the API, the console
dashboard and the HTML report all read the same `Summary`.
"""

"""The regency's dashboard, its use-cases: who may log in and how (access.py), and the figures
each page shows (figures.py). The web pages themselves are bot/dashboard/."""

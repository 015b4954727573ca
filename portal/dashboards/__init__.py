"""Home-page dashboards per role: figures from every feature, each linked to the list behind it.

This package sits above the features (like portal/app.py): it reads their models and imports
nothing from it in return."""

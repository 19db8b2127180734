"""obs provision: plan, apply, prune, export and import Datadog dashboards and monitors."""

"""obs.dashboards"""

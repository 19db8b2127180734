"""obs.monitors"""

"""obs.agent"""

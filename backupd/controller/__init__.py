"""The in-cluster controller (schedules, TTL, metrics). Only its entry point exists so far."""

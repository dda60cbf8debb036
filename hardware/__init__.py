"""Drivers for the kiosk's hardware -- the desk phone and the GPIO panel -- with simulators.

This package never imports `kiosk`: it is a set of drivers usable on their own.
"""

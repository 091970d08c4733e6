"""Turning files into clean, PII-masked text sections."""

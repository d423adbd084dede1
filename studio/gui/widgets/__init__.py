"""Reusable widgets: the before/after compare view, image preview, folder fields, toasts."""

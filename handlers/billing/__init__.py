"""Billing systems churnbot writes to when a customer accepts an offer."""

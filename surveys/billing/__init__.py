"""Billing systems as sources of events (Stripe) and what churnbot does in them."""

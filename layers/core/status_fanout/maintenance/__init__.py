"""Scheduled maintenance (docs/contract.md §9, docs/maintenance.md): its
lifecycle, the service the routes and the clock call, and the one-time
EventBridge Scheduler schedules that are its clock."""

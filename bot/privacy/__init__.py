"""Privacy requests and retention (《个人信息保护法》): a customer's data exported or erased across every store, and
conversations purged once quiet for ``privacy.retention_days``. ``service.PrivacyService`` is what the CLI, the
admin API and the archive process's daily job call; ``handoff.privacy.build_service`` hands it every store."""

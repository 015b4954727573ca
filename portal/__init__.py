"""Agent-channel partner portal (集团业务代理门户)."""

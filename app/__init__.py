"""Portal SSO for Jira Service Management."""

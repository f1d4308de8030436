"""The only package that talks to Jira / JSM REST."""

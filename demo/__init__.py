"""`make demo`: the whole product on one machine, without a Jira site (see __main__)."""

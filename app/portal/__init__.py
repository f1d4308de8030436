"""Customer-facing pages: substitute link, sign-in picker, portal, sign-out."""

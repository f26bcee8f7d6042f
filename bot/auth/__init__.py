"""Staff, auditor and admin accounts: password hashing, sessions, roles and login."""

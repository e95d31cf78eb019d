-- Per-user account values (auth.account: the token response's and a discovery request's,
-- such as Salesforce's instance_url or an Atlassian cloud id), as a JSON object. Not sealed:
-- they name where the user's data is, not how to reach it.
ALTER TABLE tokens ADD COLUMN account TEXT;

-- 0007 directory, second part: the "listed senders" posting policy for lists, lists (groups)
-- as permitted bookers of a resource, and the indexes the operator's listings by domain use.
--
-- Catch-all addresses stay in domains.catch_all (0001); aliases keep one target each
-- (several targets = a list).

ALTER TABLE lists DROP CONSTRAINT lists_posting_policy_check;
ALTER TABLE lists ADD CONSTRAINT lists_posting_policy_check
  CHECK (posting_policy IN ('anyone', 'domain', 'members', 'moderators', 'senders'));

-- For posting_policy = 'senders': the addresses (local or remote) allowed to post. They do
-- not receive the list's mail (that is list_members).
CREATE TABLE list_senders (
  list_id  bigint NOT NULL REFERENCES lists (id) ON DELETE CASCADE,
  address  text NOT NULL CHECK (address = lower(address) AND position('@' IN address) > 1),
  added_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (list_id, address)
);

-- A restricted resource (resources.restricted) may be booked by the accounts in
-- resource_bookers and by the members of the lists here (a group of people).
CREATE TABLE resource_booker_lists (
  resource_account_id bigint NOT NULL REFERENCES resources (account_id) ON DELETE CASCADE,
  list_id             bigint NOT NULL REFERENCES lists (id) ON DELETE CASCADE,
  PRIMARY KEY (resource_account_id, list_id)
);
CREATE INDEX resource_booker_lists_list ON resource_booker_lists (list_id);
CREATE INDEX resource_bookers_account ON resource_bookers (account_id);

-- kitectl alias list DOMAIN / list listings, and cascades when a domain is removed.
CREATE INDEX aliases_domain ON aliases (domain_id);
CREATE INDEX lists_domain ON lists (domain_id);
-- Removing an account that delegates a resource.
CREATE INDEX resources_delegate ON resources (delegate_account_id) WHERE delegate_account_id IS NOT NULL;

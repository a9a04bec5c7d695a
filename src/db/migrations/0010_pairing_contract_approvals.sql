-- A pairing approved by a wallet contract (EIP-1271/6492) rather than a key (issue 17): what the
-- contract accepted, so that the desktop's session, opened by the claim, is recorded in
-- contract_sessions and asked again like any contract's session. NULL for a key's approval;
-- deleted with the pairing (the upkeep deletes pairings an hour after they expire).
ALTER TABLE pairings ADD COLUMN contract_message_hash BLOB;  -- EIP-191 hash of the message signed
ALTER TABLE pairings ADD COLUMN contract_signature BLOB;     -- as received (an EIP-6492 wrapper included)

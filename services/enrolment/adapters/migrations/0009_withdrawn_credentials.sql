-- Status-list positions of credentials whose resident was erased. Erasure deletes the issued
-- credential with the rest of the resident's record, but the resident may still hold a copy: the
-- street no longer keeps the record it attests, so the status list sets its bit and verifiers
-- are told it was revoked. Positions only: nothing here names or links to the resident, and the
-- issue sequence never hands a position out again.
CREATE TABLE IF NOT EXISTS withdrawn_credential_bits (
    status_list  text        NOT NULL,
    status_index int         NOT NULL,
    withdrawn_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (status_list, status_index)
);

-- Issue 17: the incremental daily pass. A run that decides nothing for a pupil leaves a
-- certificate here: how long nothing can fire for them while the register gains only plain
-- present marks (src/escalation/quiet.rs). Later runs leave such pupils out.
--
-- Anything else that changes one of the pupil's inputs forgets the certificate: the triggers
-- below (on every table the engine reads about a pupil) and the register writer itself
-- (src/register/store.rs), which keeps it only for plain present marks. `stamp` moves on every
-- forgetting, so a run that read the pupil before a change cannot write a certificate after it.
-- `basis` names the policy, calendar and rollcall version the certificate was made under.
CREATE TABLE pupil_quiet (
    pupil_id BIGINT PRIMARY KEY,
    school_id BIGINT NOT NULL,
    stamp BIGINT NOT NULL DEFAULT 0,
    basis TEXT,
    until TEXT,
    year INTEGER,
    credit BIGINT,
    last_slot BIGINT
);
CREATE INDEX pupil_quiet_school ON pupil_quiet (school_id, until);


CREATE FUNCTION forget_quiet_pupil() RETURNS trigger AS $$
BEGIN
    IF TG_OP <> 'INSERT' THEN
        UPDATE pupil_quiet SET stamp = stamp + 1, until = NULL WHERE pupil_id = OLD.pupil_id;
    END IF;
    IF TG_OP <> 'DELETE' THEN
        UPDATE pupil_quiet SET stamp = stamp + 1, until = NULL WHERE pupil_id = NEW.pupil_id;
    END IF;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER contacts_forgets_quiet AFTER INSERT OR UPDATE OR DELETE ON contacts
FOR EACH ROW EXECUTE FUNCTION forget_quiet_pupil();

CREATE TRIGGER decisions_forgets_quiet AFTER INSERT OR UPDATE OR DELETE ON decisions
FOR EACH ROW EXECUTE FUNCTION forget_quiet_pupil();

CREATE TRIGGER cases_forgets_quiet AFTER INSERT OR UPDATE OR DELETE ON cases
FOR EACH ROW EXECUTE FUNCTION forget_quiet_pupil();

CREATE TRIGGER stage_memory_forgets_quiet AFTER INSERT OR UPDATE OR DELETE ON stage_memory
FOR EACH ROW EXECUTE FUNCTION forget_quiet_pupil();

CREATE TRIGGER reply_explanations_forgets_quiet AFTER INSERT OR UPDATE OR DELETE ON reply_explanations
FOR EACH ROW EXECUTE FUNCTION forget_quiet_pupil();

CREATE TRIGGER integration_extensions_forgets_quiet AFTER INSERT OR UPDATE OR DELETE ON integration_extensions
FOR EACH ROW EXECUTE FUNCTION forget_quiet_pupil();

CREATE TRIGGER medical_evidence_forgets_quiet AFTER INSERT OR UPDATE OR DELETE ON medical_evidence
FOR EACH ROW EXECUTE FUNCTION forget_quiet_pupil();

CREATE TRIGGER export_missing_forgets_quiet AFTER INSERT OR UPDATE OR DELETE ON export_missing
FOR EACH ROW EXECUTE FUNCTION forget_quiet_pupil();

CREATE FUNCTION forget_quiet_pupil_row() RETURNS trigger AS $$
BEGIN
    UPDATE pupil_quiet SET stamp = stamp + 1, until = NULL WHERE pupil_id = NEW.id;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER pupils_update_forgets_quiet AFTER UPDATE ON pupils
FOR EACH ROW WHEN (OLD.* IS DISTINCT FROM NEW.*) EXECUTE FUNCTION forget_quiet_pupil_row();

CREATE TRIGGER register_years_delete_forgets_quiet AFTER DELETE ON register_years
FOR EACH ROW EXECUTE FUNCTION forget_quiet_pupil();

CREATE FUNCTION forget_quiet_decision() RETURNS trigger AS $$
BEGIN
    IF TG_OP <> 'INSERT' THEN
        UPDATE pupil_quiet SET stamp = stamp + 1, until = NULL
        WHERE pupil_id IN (SELECT d.pupil_id FROM decisions d WHERE d.id = OLD.decision_id);
    END IF;
    IF TG_OP <> 'DELETE' THEN
        UPDATE pupil_quiet SET stamp = stamp + 1, until = NULL
        WHERE pupil_id IN (SELECT d.pupil_id FROM decisions d WHERE d.id = NEW.decision_id);
    END IF;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER outbox_items_forgets_quiet AFTER INSERT OR UPDATE OR DELETE ON outbox_items
FOR EACH ROW EXECUTE FUNCTION forget_quiet_decision();

CREATE FUNCTION forget_quiet_outbox() RETURNS trigger AS $$
BEGIN
    UPDATE pupil_quiet SET stamp = stamp + 1, until = NULL
    WHERE pupil_id IN (SELECT d.pupil_id FROM outbox_items i JOIN decisions d ON d.id = i.decision_id
                       WHERE i.outbox_id = NEW.id);
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER outbox_update_forgets_quiet AFTER UPDATE ON outbox
FOR EACH ROW EXECUTE FUNCTION forget_quiet_outbox();

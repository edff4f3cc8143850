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
    pupil_id INTEGER PRIMARY KEY,
    school_id INTEGER NOT NULL,
    stamp INTEGER NOT NULL DEFAULT 0,
    basis TEXT,
    until TEXT,
    year INTEGER,
    credit INTEGER,
    last_slot INTEGER
);
CREATE INDEX pupil_quiet_school ON pupil_quiet (school_id, until);


CREATE TRIGGER contacts_insert_forgets_quiet AFTER INSERT ON contacts
BEGIN UPDATE pupil_quiet SET stamp = stamp + 1, until = NULL WHERE pupil_id = NEW.pupil_id; END;

CREATE TRIGGER contacts_update_forgets_quiet AFTER UPDATE ON contacts
BEGIN UPDATE pupil_quiet SET stamp = stamp + 1, until = NULL WHERE pupil_id = NEW.pupil_id; UPDATE pupil_quiet SET stamp = stamp + 1, until = NULL WHERE pupil_id = OLD.pupil_id; END;

CREATE TRIGGER contacts_delete_forgets_quiet AFTER DELETE ON contacts
BEGIN UPDATE pupil_quiet SET stamp = stamp + 1, until = NULL WHERE pupil_id = OLD.pupil_id; END;

CREATE TRIGGER decisions_insert_forgets_quiet AFTER INSERT ON decisions
BEGIN UPDATE pupil_quiet SET stamp = stamp + 1, until = NULL WHERE pupil_id = NEW.pupil_id; END;

CREATE TRIGGER decisions_update_forgets_quiet AFTER UPDATE ON decisions
BEGIN UPDATE pupil_quiet SET stamp = stamp + 1, until = NULL WHERE pupil_id = NEW.pupil_id; UPDATE pupil_quiet SET stamp = stamp + 1, until = NULL WHERE pupil_id = OLD.pupil_id; END;

CREATE TRIGGER decisions_delete_forgets_quiet AFTER DELETE ON decisions
BEGIN UPDATE pupil_quiet SET stamp = stamp + 1, until = NULL WHERE pupil_id = OLD.pupil_id; END;

CREATE TRIGGER cases_insert_forgets_quiet AFTER INSERT ON cases
BEGIN UPDATE pupil_quiet SET stamp = stamp + 1, until = NULL WHERE pupil_id = NEW.pupil_id; END;

CREATE TRIGGER cases_update_forgets_quiet AFTER UPDATE ON cases
BEGIN UPDATE pupil_quiet SET stamp = stamp + 1, until = NULL WHERE pupil_id = NEW.pupil_id; UPDATE pupil_quiet SET stamp = stamp + 1, until = NULL WHERE pupil_id = OLD.pupil_id; END;

CREATE TRIGGER cases_delete_forgets_quiet AFTER DELETE ON cases
BEGIN UPDATE pupil_quiet SET stamp = stamp + 1, until = NULL WHERE pupil_id = OLD.pupil_id; END;

CREATE TRIGGER stage_memory_insert_forgets_quiet AFTER INSERT ON stage_memory
BEGIN UPDATE pupil_quiet SET stamp = stamp + 1, until = NULL WHERE pupil_id = NEW.pupil_id; END;

CREATE TRIGGER stage_memory_update_forgets_quiet AFTER UPDATE ON stage_memory
BEGIN UPDATE pupil_quiet SET stamp = stamp + 1, until = NULL WHERE pupil_id = NEW.pupil_id; UPDATE pupil_quiet SET stamp = stamp + 1, until = NULL WHERE pupil_id = OLD.pupil_id; END;

CREATE TRIGGER stage_memory_delete_forgets_quiet AFTER DELETE ON stage_memory
BEGIN UPDATE pupil_quiet SET stamp = stamp + 1, until = NULL WHERE pupil_id = OLD.pupil_id; END;

CREATE TRIGGER reply_explanations_insert_forgets_quiet AFTER INSERT ON reply_explanations
BEGIN UPDATE pupil_quiet SET stamp = stamp + 1, until = NULL WHERE pupil_id = NEW.pupil_id; END;

CREATE TRIGGER reply_explanations_update_forgets_quiet AFTER UPDATE ON reply_explanations
BEGIN UPDATE pupil_quiet SET stamp = stamp + 1, until = NULL WHERE pupil_id = NEW.pupil_id; UPDATE pupil_quiet SET stamp = stamp + 1, until = NULL WHERE pupil_id = OLD.pupil_id; END;

CREATE TRIGGER reply_explanations_delete_forgets_quiet AFTER DELETE ON reply_explanations
BEGIN UPDATE pupil_quiet SET stamp = stamp + 1, until = NULL WHERE pupil_id = OLD.pupil_id; END;

CREATE TRIGGER integration_extensions_insert_forgets_quiet AFTER INSERT ON integration_extensions
BEGIN UPDATE pupil_quiet SET stamp = stamp + 1, until = NULL WHERE pupil_id = NEW.pupil_id; END;

CREATE TRIGGER integration_extensions_update_forgets_quiet AFTER UPDATE ON integration_extensions
BEGIN UPDATE pupil_quiet SET stamp = stamp + 1, until = NULL WHERE pupil_id = NEW.pupil_id; UPDATE pupil_quiet SET stamp = stamp + 1, until = NULL WHERE pupil_id = OLD.pupil_id; END;

CREATE TRIGGER integration_extensions_delete_forgets_quiet AFTER DELETE ON integration_extensions
BEGIN UPDATE pupil_quiet SET stamp = stamp + 1, until = NULL WHERE pupil_id = OLD.pupil_id; END;

CREATE TRIGGER medical_evidence_insert_forgets_quiet AFTER INSERT ON medical_evidence
BEGIN UPDATE pupil_quiet SET stamp = stamp + 1, until = NULL WHERE pupil_id = NEW.pupil_id; END;

CREATE TRIGGER medical_evidence_update_forgets_quiet AFTER UPDATE ON medical_evidence
BEGIN UPDATE pupil_quiet SET stamp = stamp + 1, until = NULL WHERE pupil_id = NEW.pupil_id; UPDATE pupil_quiet SET stamp = stamp + 1, until = NULL WHERE pupil_id = OLD.pupil_id; END;

CREATE TRIGGER medical_evidence_delete_forgets_quiet AFTER DELETE ON medical_evidence
BEGIN UPDATE pupil_quiet SET stamp = stamp + 1, until = NULL WHERE pupil_id = OLD.pupil_id; END;

CREATE TRIGGER export_missing_insert_forgets_quiet AFTER INSERT ON export_missing
BEGIN UPDATE pupil_quiet SET stamp = stamp + 1, until = NULL WHERE pupil_id = NEW.pupil_id; END;

CREATE TRIGGER export_missing_update_forgets_quiet AFTER UPDATE ON export_missing
BEGIN UPDATE pupil_quiet SET stamp = stamp + 1, until = NULL WHERE pupil_id = NEW.pupil_id; UPDATE pupil_quiet SET stamp = stamp + 1, until = NULL WHERE pupil_id = OLD.pupil_id; END;

CREATE TRIGGER export_missing_delete_forgets_quiet AFTER DELETE ON export_missing
BEGIN UPDATE pupil_quiet SET stamp = stamp + 1, until = NULL WHERE pupil_id = OLD.pupil_id; END;

CREATE TRIGGER pupils_update_forgets_quiet AFTER UPDATE ON pupils
WHEN OLD.upn IS NOT NEW.upn OR OLD.forename IS NOT NEW.forename OR OLD.surname IS NOT NEW.surname OR OLD.date_of_birth IS NOT NEW.date_of_birth OR OLD.year_group IS NOT NEW.year_group OR OLD.reg_group IS NOT NEW.reg_group OR OLD.gender IS NOT NEW.gender OR OLD.fsm IS NOT NEW.fsm OR OLD.sen IS NOT NEW.sen OR OLD.eal IS NOT NEW.eal OR OLD.ethnicity IS NOT NEW.ethnicity OR OLD.lac IS NOT NEW.lac OR OLD.social_worker IS NOT NEW.social_worker OR OLD.young_carer IS NOT NEW.young_carer OR OLD.concern IS NOT NEW.concern OR OLD.admission_date IS NOT NEW.admission_date OR OLD.leaving_date IS NOT NEW.leaving_date
BEGIN UPDATE pupil_quiet SET stamp = stamp + 1, until = NULL WHERE pupil_id = NEW.id; END;

CREATE TRIGGER register_years_delete_forgets_quiet AFTER DELETE ON register_years
BEGIN UPDATE pupil_quiet SET stamp = stamp + 1, until = NULL WHERE pupil_id = OLD.pupil_id; END;

CREATE TRIGGER outbox_items_insert_forgets_quiet AFTER INSERT ON outbox_items
BEGIN UPDATE pupil_quiet SET stamp = stamp + 1, until = NULL WHERE pupil_id IN (SELECT d.pupil_id FROM decisions d WHERE d.id = NEW.decision_id); END;

CREATE TRIGGER outbox_items_update_forgets_quiet AFTER UPDATE ON outbox_items
BEGIN UPDATE pupil_quiet SET stamp = stamp + 1, until = NULL WHERE pupil_id IN (SELECT d.pupil_id FROM decisions d WHERE d.id = NEW.decision_id); END;

CREATE TRIGGER outbox_items_delete_forgets_quiet AFTER DELETE ON outbox_items
BEGIN UPDATE pupil_quiet SET stamp = stamp + 1, until = NULL WHERE pupil_id IN (SELECT d.pupil_id FROM decisions d WHERE d.id = OLD.decision_id); END;

CREATE TRIGGER outbox_update_forgets_quiet AFTER UPDATE ON outbox
BEGIN UPDATE pupil_quiet SET stamp = stamp + 1, until = NULL WHERE pupil_id IN (SELECT d.pupil_id FROM outbox_items i JOIN decisions d ON d.id = i.decision_id WHERE i.outbox_id = NEW.id); END;

-- 0003: every change to an invoice moves updated_at, whoever makes it, so readers can key derived copies (such
-- as serialized answers) on (id, updated_at).
CREATE FUNCTION fapiao_touch_updated_at() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    NEW.updated_at := clock_timestamp();
    RETURN NEW;
END;
$$;

CREATE TRIGGER invoices_touch_updated_at BEFORE UPDATE ON invoices
    FOR EACH ROW EXECUTE FUNCTION fapiao_touch_updated_at();

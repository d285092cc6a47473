-- 0002: verification-record ids are handed out in blocks of 1,000 (each nextval reserves a block for one
-- worker), so a group commit of records is a single COPY with no round trip for ids.
-- ID_BLOCK in storage/verification_records.py must equal this increment.
ALTER SEQUENCE verification_records_id_seq INCREMENT BY 1000;

-- A built-in store as msgrelay wrote it before its schema was versioned (version 1: user_version 0,
-- deliveries.key UNIQUE); made with Store.deliver_many at commit 864d5bb and sqlite3 iterdump.
BEGIN TRANSACTION;
CREATE TABLE batches (
    source TEXT NOT NULL,
    batch_id TEXT NOT NULL,
    failures TEXT NOT NULL,
    PRIMARY KEY (source, batch_id)
);
INSERT INTO "batches" VALUES('upscale','sid-1','{"status_message":"done","failed_messages_reason":null,"requested_message_count":null,"generated_message_count":null,"failed_messages_count":null}');
CREATE TABLE deliveries (
    id INTEGER PRIMARY KEY,
    key TEXT NOT NULL UNIQUE,
    destination TEXT NOT NULL,
    source TEXT NOT NULL,
    batch_id TEXT NOT NULL,
    item_id TEXT NOT NULL,
    customer_id TEXT,
    campaign_id TEXT,
    linkedin TEXT,
    extra TEXT,
    delivered_at REAL NOT NULL
);
INSERT INTO "deliveries" VALUES(1,'d_11111111111111111111111111111111','store','upscale','sid-1','crm-1','cust','camp','https://www.linkedin.com/in/crm-1/','{"first_name":"Ada","null_messages":["hiring_activity"],"extra":{"email":"crm-1@example.org"}}',1768473000.0);
INSERT INTO "deliveries" VALUES(2,'d_22222222222222222222222222222222','store','upscale','sid-1','crm-2','cust','camp','https://www.linkedin.com/in/crm-2/','{"first_name":"Ada","extra":{"email":"crm-2@example.org"}}',1768473000.0);
CREATE TABLE messages (
    delivery INTEGER NOT NULL REFERENCES deliveries (id),
    message_type TEXT NOT NULL,
    text TEXT
);
INSERT INTO "messages" VALUES(1,'connection_request','Hi Ada');
INSERT INTO "messages" VALUES(1,'hiring_activity',NULL);
INSERT INTO "messages" VALUES(2,'connection_request','Hi Grace');
COMMIT;

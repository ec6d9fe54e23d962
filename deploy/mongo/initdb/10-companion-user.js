// Runs once, on an empty data volume: the bot's own user, limited to its database.
db.getSiblingDB("companion").createUser({
  user: "companion",
  pwd: process.env.MONGO_APP_PASSWORD,
  roles: [{ role: "readWrite", db: "companion" }, { role: "dbAdmin", db: "companion" }],
});

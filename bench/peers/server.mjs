// PostGraphile v5 (amber preset) on the benchmark's database, one Node process, no
// GraphiQL, no watch mode: what `postgraphile -c DATABASE_URL` serves, with production
// settings. Usage: node server.mjs <postgres://…> <port>
import { createServer } from "node:http";
import { postgraphile } from "postgraphile";
import { makePgService } from "postgraphile/adaptors/pg";
import { grafserv } from "postgraphile/grafserv/node";
import { PostGraphileAmberPreset } from "postgraphile/presets/amber";

const [connectionString, port] = process.argv.slice(2);
if (!connectionString || !port) {
  console.error("usage: node server.mjs <postgres://…> <port>");
  process.exit(2);
}

const preset = {
  extends: [PostGraphileAmberPreset],
  pgServices: [
    makePgService({ connectionString, schemas: ["public"], poolConfig: { max: 10 } }),
  ],
  grafserv: { port: Number(port), host: "127.0.0.1", graphiql: false, watch: false },
  grafast: { explain: false },
  schema: { exportSchemaSDLPath: process.env.EXPORT_SCHEMA || undefined },
};

const pgl = postgraphile(preset);
const serv = pgl.createServ(grafserv);
const server = createServer();
server.once("listening", () => {
  server.on("error", (e) => console.error(e));
  console.log(`PostGraphile listening on http://127.0.0.1:${port}/graphql`);
});
serv.addTo(server).catch((e) => {
  console.error(e);
  process.exit(1);
});
server.listen(Number(port), "127.0.0.1");
for (const signal of ["SIGINT", "SIGTERM"]) {
  process.on(signal, () => {
    server.close();
    pgl.release().finally(() => process.exit(0));
  });
}

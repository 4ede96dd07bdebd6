import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import type { Migration } from '../../../server/store/migrations.js';
import { MIGRATIONS, migrate, StoreSchemaError, schemaVersion } from '../../../server/store/migrations.js';

const open: Database.Database[] = [];
function memoryDb(): Database.Database {
  const db = new Database(':memory:');
  open.push(db);
  return db;
}
afterEach(() => {
  for (const db of open.splice(0)) db.close();
});

function tables(db: Database.Database): string[] {
  return db.prepare(`SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name`).pluck().all() as string[];
}

describe('migrate', () => {
  it('when the database is new, then every step runs and user_version is the number of steps', () => {
    const db = memoryDb();
    expect(migrate(db)).toBe(0);
    expect(schemaVersion(db)).toBe(MIGRATIONS.length);
    expect(tables(db)).toEqual(expect.arrayContaining(['resources', 'spans']));
    const columns = db.prepare(`SELECT name FROM pragma_table_info('spans')`).pluck().all();
    expect(columns).toContain('resource_id');
  });

  it('when run again on a migrated database, then it changes nothing', () => {
    const db = memoryDb();
    migrate(db);
    const schema = db.prepare('SELECT sql FROM sqlite_master ORDER BY name').pluck().all();
    expect(migrate(db)).toBe(MIGRATIONS.length);
    expect(db.prepare('SELECT sql FROM sqlite_master ORDER BY name').pluck().all()).toEqual(schema);
  });

  it('when a step fails half-way, then its changes are rolled back and the version stays at the last good step', () => {
    const db = memoryDb();
    const steps: Migration[] = [
      { name: 'a', up: (d) => d.exec('CREATE TABLE a (x)') },
      {
        name: 'b',
        up: (d) => {
          d.exec('CREATE TABLE b (x)');
          throw new Error('disk on fire');
        },
      },
    ];
    expect(() => migrate(db, steps, 'test.db')).toThrow(/test\.db: migration 2 \(b\) failed: disk on fire/);
    expect(schemaVersion(db)).toBe(1);
    expect(tables(db)).toEqual(['a']);
  });

  it('when the database is newer than the steps known, then it refuses with a StoreSchemaError naming both versions', () => {
    const db = memoryDb();
    db.pragma('user_version = 3');
    const steps: Migration[] = [{ name: 'a', up: (d) => d.exec('CREATE TABLE a (x)') }];
    expect(() => migrate(db, steps, 'test.db')).toThrow(StoreSchemaError);
    expect(() => migrate(db, steps, 'test.db')).toThrow(/schema version 3.*versions up to 1/);
    expect(tables(db)).toEqual([]);
  });
});

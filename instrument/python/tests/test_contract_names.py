"""Every name the recorder sends is a name of the contract (contract/contract.ts ATTR and EVENT), so the
Python recorder and the TypeScript pipeline cannot drift apart: this reads the TypeScript file itself."""

import os
import re
import unittest

from .helpers import PACKAGE_ROOT, run_recorded, write_program

CONTRACT_TS = os.path.join(os.path.dirname(os.path.dirname(PACKAGE_ROOT)), "contract", "contract.ts")
SOURCE_DIR = os.path.join(PACKAGE_ROOT, "canceltrace")
# a dotted name under one of the contract's namespaces, as a string literal in the recorder's source
NAME_LITERAL = re.compile(r"\"((?:task|tasks|shutdown|cancel|uncancel|cleanup|shield|resource|loop|canceltrace|code|"
                          r"exception|service|process|telemetry)\.[a-z0-9_.]+)\"")


def contract_object(source, name):
    """The string values of `export const NAME = { key: 'value', ... }` in a TypeScript file."""
    body = re.search(r"export const %s = \{(.*?)\n\} as const;" % name, source, re.S)
    if body is None:
        raise AssertionError("no %s object in %s" % (name, CONTRACT_TS))
    return set(re.findall(r"^\s*\w+: '([^']+)',?\s*$", body.group(1), re.M))


class ContractNames(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        with open(CONTRACT_TS) as f:
            source = f.read()
        cls.attrs = contract_object(source, "ATTR")
        cls.events = contract_object(source, "EVENT")
        states = re.search(r"const FINAL_STATES[^=]*= new Set\(\[([^\]]*)\]\)", source)
        cls.final_states = set(re.findall(r"'([^']+)'", states.group(1)))

    def test_when_the_contract_is_read_then_it_holds_the_names_this_test_relies_on(self):
        self.assertIn("task.final_state", self.attrs)
        self.assertIn("task.cancel_requested", self.events)
        self.assertEqual(self.final_states, {"cancelled", "completed", "failed", "pending", "destroyed"})

    def test_when_the_recorders_source_names_an_attribute_or_event_then_the_contract_has_it(self):
        found = {}
        for name in sorted(os.listdir(SOURCE_DIR)):
            if name.endswith(".py"):
                with open(os.path.join(SOURCE_DIR, name)) as f:
                    for literal in NAME_LITERAL.findall(f.read()):
                        found.setdefault(literal, name)
        self.assertGreater(len(found), 40, "the scan found the recorder's names")
        unknown = {n: where for n, where in found.items() if n not in self.attrs | self.events}
        self.assertEqual(unknown, {}, "names the recorder sends that contract/contract.ts does not define")

    def test_when_a_program_runs_then_every_name_and_final_state_exported_is_in_the_contract(self):
        path = write_program("""
            import asyncio, signal, os
            import canceltrace

            async def swallower():
                try:
                    await asyncio.sleep(10)
                except asyncio.CancelledError:
                    return
            async def cleaner():
                try:
                    await asyncio.sleep(10)
                finally:
                    async with asyncio.timeout(1):
                        await asyncio.shield(asyncio.sleep(0.01))
            async def failing():
                raise ValueError("bad")
            async def timed():
                async with asyncio.timeout(0.01):
                    await asyncio.sleep(1)
            async def main():
                canceltrace.gauge("pool.in_use", lambda: 1, baseline=0)
                ts = [asyncio.create_task(f(), name=f.__name__) for f in (swallower, cleaner, failing)]
                try:
                    await asyncio.create_task(timed())
                except TimeoutError:
                    pass
                await asyncio.sleep(0.05)
                ts[0].cancel()
            asyncio.run(main())
        """)
        proc, dump = run_recorded(path)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        names, states = set(), set()
        for resource, _, span in dump.records:
            names |= set(resource)
            for kv in span["attributes"]:
                names.add(kv["key"])
                if kv["key"] == "task.final_state":
                    states.add(kv["value"]["stringValue"])
            for e in span["events"]:
                names.add(e["name"])
                names |= {kv["key"] for kv in e.get("attributes", [])}
        self.assertTrue({"task.cleanup.start", "task.shield.end", "resource.gauge", "task.uncancel"} <= names, names)
        self.assertEqual(names - self.attrs - self.events, set())
        self.assertTrue(states and states <= self.final_states, states)


if __name__ == "__main__":
    unittest.main()

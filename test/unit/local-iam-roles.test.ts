import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { escapeXml, formMembers, IamError, policyGrants, toXml } from '#local/iam-roles.ts';

/** The local IAM's hand-written parts over untrusted input: the form's list members, XML text, policies. */

const decodeEntities = (xml: string) =>
  xml.replace(/&#(\d+);/g, (_, code: string) => String.fromCharCode(Number(code)));

describe('formMembers', () => {
  it('reads back the tags the SDK encodes, in order', () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ Key: fc.string(), Value: fc.string() }), { maxLength: 12 }),
        (tags) => {
          const form = new URLSearchParams({ Action: 'CreateRole' });
          tags.forEach((t, i) => {
            form.append(`Tags.member.${i + 1}.Key`, t.Key);
            form.append(`Tags.member.${i + 1}.Value`, t.Value);
          });
          const parsed = formMembers(new URLSearchParams(form.toString()), 'Tags', ['Key', 'Value']);
          expect(parsed).toEqual(tags);
        },
      ),
    );
  });

  it('answers any other body with a list or an IAM error, never anything else', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.tuple(
            fc.oneof(
              fc.string(),
              fc.constantFrom(
                'Tags.member.1.Key',
                'Tags.member.0.Key',
                'Tags.member.x.Value',
                'Tags.member.3.Value',
                'Tags.member.',
              ),
            ),
            fc.string(),
          ),
        ),
        (pairs) => {
          const form = new URLSearchParams(pairs);
          try {
            expect(Array.isArray(formMembers(form, 'Tags', ['Key', 'Value']))).toBe(true);
          } catch (err) {
            expect(err).toBeInstanceOf(IamError);
            expect((err as IamError).status).toBe(400);
          }
        },
      ),
    );
  });
});

describe('XML answers', () => {
  it('escapes any text so that it reads back unchanged and cannot open markup', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary' }), (text) => {
        const escaped = escapeXml(text);
        expect(escaped).not.toMatch(/[<>"']/);
        expect(decodeEntities(escaped)).toBe(text);
        expect(toXml({ Description: text })).toBe(`<Description>${escaped}</Description>`);
      }),
    );
  });

  it('writes lists as members and leaves out what is undefined', () => {
    expect(toXml({ PolicyNames: ['a', 'b'], Marker: undefined, IsTruncated: false })).toBe(
      '<PolicyNames><member>a</member><member>b</member></PolicyNames><IsTruncated>false</IsTruncated>',
    );
  });
});

describe('policyGrants', () => {
  it('refuses any document that is not a policy it can enforce, as MalformedPolicyDocument', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.json()), (document) => {
        try {
          const grants = policyGrants(document);
          for (const grant of grants) {
            expect(grant.actions.length).toBeGreaterThan(0);
            expect(grant.resources.length).toBeGreaterThan(0);
          }
        } catch (err) {
          expect(err).toMatchObject({ code: 'MalformedPolicyDocument', status: 400 });
        }
      }),
    );
  });
});

/**
 * A notification as an RFC 5322 message, built by nodemailer's MailComposer (headers, encodings,
 * line lengths and the Message-ID done by a maintained library, not by hand). The same bytes go to
 * SES v2 in AWS and, locally, to the `.eml` file the local SES endpoint writes.
 */
export async function composeEmail(message: {
  from: string;
  to: readonly string[];
  subject: string;
  text: string;
  headers?: Record<string, string>;
}): Promise<Uint8Array> {
  // Imported on first use: only the delivery function sends email.
  const { default: MailComposer } = await import('nodemailer/lib/mail-composer');
  const mail = new MailComposer({
    from: message.from,
    to: [...message.to],
    subject: message.subject,
    text: message.text,
    ...(message.headers ? { headers: message.headers } : {}),
  });
  return mail.compile().build();
}

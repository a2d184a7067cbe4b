/** Placeholder: replaced by the blob-store work. */
export async function startS3(): Promise<{ endpoint: string; stop(): Promise<void> } | undefined> {
  return undefined;
}
